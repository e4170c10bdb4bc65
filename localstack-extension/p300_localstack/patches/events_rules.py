"""Fix for EventBridge rules (LocalStack 2026.3.0)."""

from localstack.aws.api.events import RuleState
from localstack.services.events.provider import EventsProvider
from localstack.utils.patch import Patch


def disabled_rule_skips_events() -> list[Patch]:
    """A disabled rule still delivered matching events to its targets: `_process_rules` never
    looks at the rule's state. AWS delivers nothing for a DISABLED rule."""

    def process_rules(original, self, rule, *args, **kwargs):
        if rule.state == RuleState.DISABLED:
            return None
        return original(self, rule, *args, **kwargs)

    return [Patch.function(EventsProvider._process_rules, process_rules)]
