"""The computed agent queue (`redemption.Agent.arrive`) is the queue of a SimPy `Resource`.

The flow model decides each KPM's visit at its arrival (served when, or balked, reneged, sent
home at closing) instead of running a process with request, renege timer, service and release
events per visit (docs/distributed.md §6). The plain per-visit reference below is that process,
as the model ran it before the cut: a SimPy `Resource` with the same balking rule (the expected
wait of the queue ahead against the patience), a renege timer and the closing time. Hypothesis
draws arrival streams, service times, patience and counter counts; both must serve the same KPM
with the same waits and count the same give-ups, and show the same busy counters and queue
length at sampled times.
"""

from __future__ import annotations

import math

import simpy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.model.redemption import Agent

CLOSE_HOUR = 14.0


class ReferenceAgent:
    """Per-visit SimPy process on a `Resource` (the model's agent before the event cut)."""

    def __init__(self, env: simpy.Environment, servers: int, mean_service: float) -> None:
        self.env = env
        self.res = simpy.Resource(env, capacity=servers)
        self.mean_service = mean_service
        self.visits = self.balked = self.reneged = self.closed = 0
        #: when a KPM left a counter or the queue (to rule out arrivals at those instants)
        self.departures: list[float] = []

    def visit(self, service: float, patience: float, close_hour: float | None, out: dict,
              key: int):
        """Process: one KPM's visit; records ``(served, wait)`` under *key* in *out*."""
        env, res = self.env, self.res
        t0 = env.now
        until_close = math.inf if close_hour is None else math.floor(t0) + close_hour / 24 - t0
        limit = min(patience, until_close)
        expected = (0.0 if res.count < res.capacity
                    else (len(res.queue) + 1) * self.mean_service / res.capacity)
        if limit <= 0.0 or (limit < math.inf and expected > limit):
            self.balked += 1
            out[key] = (False, 0.0)
            return
        timed = limit < math.inf and res.count >= res.capacity
        with res.request() as req:
            got = yield (req | env.timeout(limit)) if timed else req
            if timed and req not in got:
                if until_close <= patience:
                    self.closed += 1
                else:
                    self.reneged += 1
                self.departures.append(env.now)
                out[key] = (False, 0.0)
                return
            out[key] = (True, env.now - t0)
            yield env.timeout(service)
            self.departures.append(env.now)
        self.visits += 1


arrival = st.tuples(
    st.floats(0.0, 0.05),                                   # gap to the previous KPM (days)
    st.floats(0.0005, 0.03),                                # service (days)
    st.one_of(st.just(math.inf), st.floats(0.0, 0.05)),     # patience (days)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(servers=st.integers(1, 3), arrivals=st.lists(arrival, min_size=1, max_size=60),
       closing=st.booleans(), mean=st.floats(0.001, 0.02))
def test_computed_queue_equals_simpy_resource(servers, arrivals, closing, mean) -> None:
    assume(_compare(servers, arrivals, closing, mean) is not None)


def test_every_way_of_leaving_is_exercised() -> None:
    """A busy afternoon at one counter: KPM are served, balk, renege and are sent home.

    (Times avoid an arrival at the very instant a service ends: there the old per-visit process
    saw a free counter between the release and the next KPM's grant, skipped its renege timer
    and waited without patience; the computed queue does not have that artefact.)"""
    arrivals = [(0.00413 if k % 3 else 0.0, 0.0197, (0.031, 0.0, math.inf)[k % 3])
                for k in range(80)]
    arrivals[0] = (0.22, 0.0197, math.inf)  # the first one comes at 12:58, closing is at 14:00
    agent = _compare(1, arrivals, True, 0.005)
    assert agent is not None, "an arrival at the instant of a departure"
    assert agent.visits and agent.balked and agent.reneged and agent.closed, (
        agent.visits, agent.balked, agent.reneged, agent.closed)


def _compare(servers: int, arrivals: list, closing: bool, mean: float) -> Agent | None:
    """Run *arrivals* through the reference and the computed agent; assert they agree (None:
    an arrival falls on a departure's instant, not compared)."""
    close = CLOSE_HOUR if closing else None
    # drawn times never coincide; hypothesis likes round numbers, which do (an arrival at the
    # instant of a departure, a wait exactly equal to a patience): SimPy orders those by event
    # id, so every value gets its own tiny irrational offset
    arrivals = [(gap + 1e-7 * ((k * 0.6180339887) % 1),
                 service * (1 + 1e-6 * ((k * 0.41421356) % 1)),
                 patience + 1e-7 * ((k * 0.7320508) % 1))
                for k, (gap, service, patience) in enumerate(arrivals)]
    t, times = 0.3, []
    for gap, _, _ in arrivals:
        t += gap
        times.append(t)
    env = simpy.Environment()
    ref = ReferenceAgent(env, servers, mean)
    got_ref: dict[int, tuple[bool, float]] = {}
    env_new = simpy.Environment()
    agent = Agent(env_new, servers, mean_service=mean)
    got_new: dict[int, tuple[bool, float]] = {}
    samples_ref, samples_new = [], []

    def source():
        for k, (tk, (_, service, patience)) in enumerate(zip(times, arrivals, strict=True)):
            yield env.timeout(tk - env.now)
            env.process(ref.visit(service, patience, close, got_ref, k))

    def sampler():
        for k in range(1, 40):  # between arrivals (never at the same instant as one)
            at = 0.3 + k * 0.0371 + 1e-7
            yield env.timeout(at - env.now)
            samples_ref.append((ref.res.count, len(ref.res.queue)))

    env.process(source())
    env.process(sampler())
    env.run()
    # SimPy orders simultaneous events by event id: an arrival at the very instant a KPM
    # leaves a counter or the queue may see it there or not (the old process even skipped its
    # renege timer then); with drawn times that never happens, so such examples are left out
    if any(abs(a - d) < 1e-9 for a in times for d in ref.departures):
        return None
    probes = [0.3 + k * 0.0371 + 1e-7 for k in range(1, 40)]
    events = sorted([(tk, 0, k) for k, tk in enumerate(times)] + [(p, 1, p) for p in probes])
    for tk, kind, k in events:
        if kind:
            samples_new.append((agent.busy(tk), agent.queued(tk)))
            continue
        _, service, patience = arrivals[k]
        served, _, wait = agent.arrive(tk, service, patience, close)
        got_new[k] = (served, wait if served else 0.0)
    assert [got_new[k][0] for k in range(len(times))] == [got_ref[k][0]
                                                           for k in range(len(times))]
    for k in range(len(times)):
        assert math.isclose(got_new[k][1], got_ref[k][1], rel_tol=1e-9, abs_tol=1e-12)
    assert (agent.visits, agent.balked, agent.reneged, agent.closed) == (
        ref.visits, ref.balked, ref.reneged, ref.closed)
    assert samples_new == samples_ref
    return agent


def test_resize_keeps_the_counters_that_free_last() -> None:
    env = simpy.Environment()
    agent = Agent(env, 3, mean_service=0.01)
    for s in (0.1, 0.2, 0.3):
        assert agent.arrive(0.0, s)[0]
    agent.resize(1)  # two counters close: a newcomer waits for the last one still serving
    served, leaves, wait = agent.arrive(0.0, 0.1)
    assert served and wait == 0.3 and leaves == 0.4 and agent.capacity == 1
    agent.resize(2)  # a counter opens now
    assert agent.arrive(0.0, 0.05) == (True, 0.05, 0.0)
