import threading
import time

import pytest

from embeddings.slots import FairSlots


def test_acquire_slots_beyond_size_waits_and_is_served_in_arrival_order() -> None:
    slots = FairSlots(1)
    slots.acquire()
    served: list[int] = []

    def waiter(n: int) -> None:
        with slots:
            served.append(n)

    threads = []
    for n in range(5):
        t = threading.Thread(target=waiter, args=(n,), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.02)  # arrive one after the other
    assert served == [], "nobody got past a full set of slots"
    slots.release()
    for t in threads:
        t.join(timeout=5)
    assert served == [0, 1, 2, 3, 4]


def test_acquire_slots_lets_size_holders_in_at_once() -> None:
    slots = FairSlots(3)
    inside = threading.Barrier(3, timeout=5)

    def holder() -> None:
        with slots:
            inside.wait()

    threads = [threading.Thread(target=holder, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert not inside.broken


def test_release_slot_not_taken_is_refused() -> None:
    slots = FairSlots(2)
    with pytest.raises(RuntimeError, match="more slots"):
        slots.release()
