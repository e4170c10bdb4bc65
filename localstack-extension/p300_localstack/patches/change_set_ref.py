"""Fix for the CloudFormation v2 change-set engine's change detection of ``Ref``."""

from localstack.services.cloudformation.engine.v2.change_set_model import (
    ChangeSetModel,
    ChangeType,
    NodeCondition,
    NodeParameter,
    TerminalValue,
)
from localstack.utils.patch import Patch


def ref_to_updated_resource_unchanged() -> list[Patch]:
    """Bug 4: the v2 change-set engine treats a ``Ref`` to an in-place-modified resource as
    changed. A function whose code changes keeps its name, yet every alias and permission naming it
    is replaced; CreateAlias then fails "Alias already exists" and the stack is left unusable.
    A ``Ref`` changes only when its resource is replaced (or the reference itself changes)."""

    def resolve_ref(original, self, arguments):
        change_type = original(self, arguments)
        if change_type != ChangeType.MODIFIED or not _names_resource(self, arguments):
            return change_type
        resource = self._retrieve_or_visit_resource(resource_name=arguments.value)
        return ChangeType.MODIFIED if resource.requires_replacement else ChangeType.UNCHANGED

    return [Patch.function(ChangeSetModel._resolve_intrinsic_function_ref, resolve_ref)]


def _names_resource(model: ChangeSetModel, arguments) -> bool:
    """Whether an unchanged Ref argument names a resource (not a parameter, condition, pseudo)."""
    if not isinstance(arguments, TerminalValue) or arguments.change_type != ChangeType.UNCHANGED:
        return False
    logical_id = arguments.value
    if not isinstance(logical_id, str) or logical_id.startswith("AWS::"):
        return False
    if isinstance(model._retrieve_condition_if_exists(condition_name=logical_id), NodeCondition):
        return False
    return not isinstance(
        model._retrieve_parameter_if_exists(parameter_name=logical_id), NodeParameter
    )
