import re

from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from anon_pipeline.engine.rules.uids import hash_uid, is_in_registry, is_registered_uid

UID_SYNTAX = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
KEY = b"k" * 32


def test_hashed_uid_is_a_valid_uuid_derived_uid():
    hashed = hash_uid("1.2.826.0.1.3680043.8.498.1", KEY)
    assert hashed.startswith("2.25.")
    assert len(hashed) <= 64
    assert UID_SYNTAX.match(hashed)


def test_hashing_is_deterministic_and_depends_on_the_key():
    uid = "1.2.3.4.5.6"
    assert hash_uid(uid, KEY) == hash_uid(uid, KEY)
    assert hash_uid(uid, KEY) != hash_uid(uid, b"other key" * 4)


def test_registered_uids_are_never_hashed():
    for uid in (CTImageStorage, ExplicitVRLittleEndian, "1.2.840.10008.2.16.4"):
        assert is_registered_uid(uid)
        assert hash_uid(uid, KEY) == uid
    assert not is_registered_uid("1.2.3.4")


def test_trailing_padding_does_not_change_the_hash():
    assert hash_uid("1.2.3.4\0", KEY) == hash_uid("1.2.3.4", KEY)


@given(
    st.lists(st.from_regex(r"[12]\.[0-9]{1,3}(\.[0-9]{1,12}){1,8}", fullmatch=True), unique=True)
)
def test_distinct_uids_stay_distinct_and_valid(uids):
    hashed = [hash_uid(uid, KEY) for uid in uids if not is_registered_uid(uid)]
    assert len(set(hashed)) == len(hashed)
    assert all(UID_SYNTAX.match(h) and len(h) <= 64 for h in hashed)


def test_instance_uids_never_fill_the_registry_cache():
    """A worker meets a new instance UID in every slice; caching each registry answer
    grew a worker by about 12 MB over 20,000 slices. Only UIDs under the DICOM root
    reach the cached registry lookup."""
    before = is_in_registry.cache_info().currsize
    for number in range(100):
        assert not is_registered_uid(f"1.2.826.0.1.3680043.8.498.{number}")
    assert is_in_registry.cache_info().currsize == before
    assert is_registered_uid(CTImageStorage)
    assert not is_registered_uid("1.2.840.10008.999.1")  # under the root, not registered
