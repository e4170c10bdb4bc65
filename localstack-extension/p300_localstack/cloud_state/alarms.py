"""CloudWatch alarm states and their history in the cloud state.

Each state change of an alarm (SetAlarmState, or the alarm scheduler's evaluation; both go
through the provider's `_update_state`) records the alarm's state fields and its history items.
After a restart, an alarm the deploy created again gets its recorded state, timestamps and
history back. Metric datapoints are not kept: the next evaluation judges the alarm on the data
that arrives from then on, as AWS would after a period without data.
"""

from localstack.services.cloudwatch.models import cloudwatch_stores
from localstack.services.cloudwatch.provider_v2 import _STORE_LOCK, CloudwatchProvider
from localstack.utils.aws import arns
from localstack.utils.patch import Patch

from .recorder import Recorder, loaded, record
from .schema import CloudState

KIND = "alarm"
#: The fields of an alarm that make up its state.
STATE_FIELDS = (
    "StateValue",
    "StateReason",
    "StateReasonData",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
)


def patches(recorder: Recorder) -> list[Patch]:
    def update_state(original, self, context, alarm, *args, **kwargs):
        original(self, context, alarm, *args, **kwargs)
        recorder.commit_or_log(
            lambda: [_capture(alarm.account_id, alarm.region, alarm.alarm["AlarmName"])],
            what=f"the state of alarm {alarm.alarm['AlarmName']}",
        )

    return [Patch.function(CloudwatchProvider._update_state, update_state)]


def restore(recorder: Recorder, previous: CloudState) -> list[dict]:
    """Give each alarm of `previous` that exists again its recorded state and history; one entry
    per recorded alarm."""
    entries = []
    for found in previous.of_kind(KIND):
        account_id, region, name = found.ident
        data = loaded(found)
        store = cloudwatch_stores[account_id][region]
        entry = {"alarm": name, "state": data["state"]["StateValue"],
                 "since": data["state"]["StateUpdatedTimestamp"]}  # fmt: skip
        with _STORE_LOCK:
            alarm = store.alarms.get(
                arns.cloudwatch_alarm_arn(name, account_id=account_id, region_name=region)
            )
            if alarm is None:
                entries.append(entry | {"status": "not deployed"})
                continue
            alarm.alarm.update(data["state"])
            known = {_history_key(item) for item in store.histories}
            store.histories[:0] = [i for i in data["history"] if _history_key(i) not in known]
        recorder.commit(lambda a=account_id, r=region, n=name: [_capture(a, r, n)])
        entries.append(entry | {"status": "restored"})
    return entries


def _capture(account_id: str, region: str, name: str):
    store = cloudwatch_stores[account_id][region]
    alarm = store.alarms.get(
        arns.cloudwatch_alarm_arn(name, account_id=account_id, region_name=region)
    )
    state = None
    if alarm is not None:
        state = {
            "state": {key: alarm.alarm[key] for key in STATE_FIELDS if key in alarm.alarm},
            "history": [item for item in store.histories if item.get("AlarmName") == name],
        }
    return record(KIND, (account_id, region, name), state)


def _history_key(item: dict) -> tuple:
    return item.get("AlarmName"), item.get("Timestamp"), item.get("HistoryData")
