"""The kernel's partitioner must put every key where any other Kafka client would: consumers' lanes rely on one
customer's events sharing a partition number across topics, whoever produced them."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.kafka import KeyPartitioner, murmur2


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_murmur2_equals_the_reference_implementation(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_matches_the_java_clients_published_values() -> None:
    # Values from Kafka's UtilsTest.testMurmur2 (as signed 32-bit ints there).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}  # fmt: skip
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_keyed_records_land_where_aiokafkas_default_partitioner_puts_them(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    ours = KeyPartitioner(memo=4)
    assert ours(key, everything, everything) == DefaultPartitioner()(key, everything, everything)
    assert ours(key, everything, everything) == ours(key, everything, []), "memoised answers stay the same"


def test_records_without_a_key_go_to_an_available_partition() -> None:
    assert {KeyPartitioner()(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert KeyPartitioner()(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}
