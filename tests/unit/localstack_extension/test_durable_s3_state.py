"""The durable state in memory: latest record per thing, parts of uploads, blob references."""

from p300_localstack.durable_s3.journal import BlobRef, Record
from p300_localstack.durable_s3.state import DurableState


def ref(blob_id: str) -> BlobRef:
    return BlobRef(blob_id, 1, None)


def bucket(name: str = "bkt", payload: bytes | None = b"bucket") -> Record:
    return Record("bucket", (name,), payload)


def key(name: str, payload: bytes | None = b"v", blob: str = "") -> Record:
    return Record("key", ("bkt", name), payload, (ref(blob or f"b-{name}"),) if payload else ())


def upload(upload_id: str, payload: bytes | None = b"mpu") -> Record:
    return Record("mpu", ("bkt", upload_id), payload)


def part(upload_id: str, number: int, payload: bytes | None = b"part") -> Record:
    blobs = (ref(f"p-{upload_id}-{number}"),) if payload else ()
    return Record("part", ("bkt", upload_id, str(number)), payload, blobs)


def state_of(*records: Record) -> DurableState:
    state = DurableState()
    for record in records:
        state.apply(record)
    return state


def test_the_last_record_wins_and_none_deletes():
    state = state_of(
        bucket(), key("a", b"v1", "b1"), key("a", b"v2", "b2"), key("g"), key("g", None)
    )
    assert [r.payload for r in state.records()] == [b"bucket", b"v2"]
    assert state.referenced_blobs() == {"b2"}
    assert not state.is_referenced("b1")


def test_parts_are_records_of_their_own_and_go_with_their_upload():
    state = state_of(bucket(), upload("u"), part("u", 1), part("u", 2), part("u", 1, b"again"))
    assert [r.kind for r in state.get("mpu", ("bkt", "u"))] == ["mpu", "part", "part"]
    assert state.get("part", ("bkt", "u", "1"))[0].payload == b"again"
    assert state.referenced_blobs() == {"p-u-1", "p-u-2"}
    state.apply(upload("u", None))
    assert state.get("mpu", ("bkt", "u")) == []
    assert state.referenced_blobs() == set()


def test_a_deleted_bucket_takes_its_keys_and_uploads():
    state = state_of(bucket(), key("a"), upload("u"), part("u", 1))
    assert len(state.get("bucket", ("bkt",))) == 4
    state.apply(bucket(payload=None))
    assert list(state.records()) == []
    assert state.referenced_blobs() == set()


def test_records_that_belong_to_nothing_are_orphans():
    state = state_of(key("a"), part("ghost", 1), part("gone", 1, None))
    assert sorted(r.kind for r in state.orphans()) == ["key", "part"]
    assert not state.has_bucket("bkt")
    state.apply(bucket())
    assert state.has_bucket("bkt")
    assert [r.kind for r in state.orphans()] == ["part"]
