"""The pending table: pairing in either order, duplicates, expiry, eviction, concurrency."""

from __future__ import annotations

import threading

import pytest

from drift.ingest.pairing import Drop, Offered, PendingTable, Side


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Dropped = list[tuple[Drop, Side, str]]


def table(ttl: float = 30.0, capacity: int = 10) -> tuple[PendingTable[str, str], Clock, Dropped]:
    clock, dropped = Clock(), []

    def on_drop(reason: Drop, side: Side, value: str) -> None:
        dropped.append((reason, side, value))

    return PendingTable(ttl, capacity, on_drop, clock), clock, dropped


@pytest.mark.parametrize(
    ("first", "second"), [(Side.REQUEST, Side.RESPONSE), (Side.RESPONSE, Side.REQUEST)]
)
def test_either_half_may_come_first(first: Side, second: Side) -> None:
    t, _, dropped = table()
    assert t.offer("id-1", first, "a").status is Offered.WAITING
    assert len(t) == 1
    offer = t.offer("id-1", second, "b")
    assert offer.status is Offered.PAIRED
    assert offer.partner == "a"
    assert len(t) == 0
    assert dropped == []


def test_a_second_copy_of_the_same_half_is_a_duplicate_and_the_first_stays() -> None:
    t, _, _ = table()
    t.offer("id-1", Side.REQUEST, "first")
    assert t.offer("id-1", Side.REQUEST, "again").status is Offered.DUPLICATE
    assert t.offer("id-1", Side.RESPONSE, "r").partner == "first"


def test_keys_do_not_mix() -> None:
    t, _, _ = table()
    t.offer("id-1", Side.REQUEST, "a")
    assert t.offer("id-2", Side.RESPONSE, "b").status is Offered.WAITING
    assert len(t) == 2


def test_a_half_expires_after_the_ttl_and_is_reported_once() -> None:
    t, clock, dropped = table(ttl=30.0)
    t.offer("old", Side.REQUEST, "req")
    clock.now += 10
    t.offer("young", Side.RESPONSE, "resp")
    clock.now += 20  # "old" is exactly 30 s old: expired; "young" has 10 s left
    assert t.sweep() == 1
    assert dropped == [(Drop.EXPIRED, Side.REQUEST, "req")]
    assert t.offer("old", Side.RESPONSE, "late").status is Offered.WAITING  # no partner anymore
    clock.now += 10
    t.offer("other", Side.REQUEST, "x")  # every offer sweeps first
    assert (Drop.EXPIRED, Side.RESPONSE, "resp") in dropped
    assert t.sweep() == 0
    assert len(t) == 2  # "old" (the late response) and "other"


def test_a_full_table_evicts_the_oldest_half() -> None:
    t, _, dropped = table(capacity=3)
    for i in range(3):
        t.offer(f"id-{i}", Side.REQUEST, f"r{i}")
    t.offer("id-3", Side.RESPONSE, "r3")
    assert dropped == [(Drop.EVICTED, Side.REQUEST, "r0")]
    assert len(t) == 3
    assert t.offer("id-2", Side.RESPONSE, "y").partner == "r2"  # the younger ones stay
    assert t.offer("id-0", Side.RESPONSE, "x").status is Offered.WAITING  # r0 is gone


def test_pairing_at_capacity_evicts_nothing() -> None:
    t, _, dropped = table(capacity=2)
    t.offer("a", Side.REQUEST, "1")
    t.offer("b", Side.REQUEST, "2")
    assert t.offer("a", Side.RESPONSE, "3").status is Offered.PAIRED
    assert dropped == []


def test_discard_removes_without_reporting() -> None:
    t, _, dropped = table()
    t.offer("a", Side.REQUEST, "1")
    assert t.discard("a") == "1"
    assert t.discard("a") is None
    assert len(t) == 0
    assert dropped == []


def test_ttl_and_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PendingTable(0, 10)
    with pytest.raises(ValueError, match="positive"):
        PendingTable(1, 0)


def test_concurrent_offers_pair_every_key_exactly_once() -> None:
    t: PendingTable[int, int] = PendingTable(60.0, 100_000)
    paired: list[int] = []
    lock = threading.Lock()

    def send(side: Side) -> None:
        for key in range(5000):
            if t.offer(key, side, key).status is Offered.PAIRED:
                with lock:
                    paired.append(key)

    threads = [threading.Thread(target=send, args=(side,)) for side in Side]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(paired) == list(range(5000))
    assert len(t) == 0
