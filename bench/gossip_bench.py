"""Gossip figures from the deterministic simulator (virtual time; wall time is irrelevant).

    python bench/gossip_bench.py                 # everything (several minutes)
    python bench/gossip_bench.py --only detect   # one part: detect, spread, falsepos, default
    python bench/gossip_bench.py --only real     # real processes on loopback (not in "everything")

Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from swarmlet.gossip.config import DEFAULT, LAN, Profile, suspicion_min  # noqa: E402
from swarmlet.gossip.core import EV_SUSPECT, EV_UPDATE  # noqa: E402
from swarmlet.gossip.sim import Simulation  # noqa: E402


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)]


def detect_run(n, profile, seed, crashes, spacing, measure_bytes=False):
    """Crash members one after another; time until every live member marks each dead."""
    sim = Simulation(n, profile, seed=seed, measure_bytes=measure_bytes)
    first_suspect: dict[str, float] = {}

    def on_event(now, observer, ev):
        if ev.kind == EV_SUSPECT:
            first_suspect.setdefault(ev.node_id, now)

    sim.on_event = on_event
    warm = 10.0
    sim.run_until(warm)
    bytes0 = sim.bytes_sent
    times, to_suspect = [], []
    t = warm
    victims = [f"n{(seed * 7919 + i * 104729) % n:04d}" for i in range(crashes)]
    for victim in victims:
        if not sim.by_id[victim].up:
            continue
        sim.crash(victim)
        t0 = t
        t += spacing
        sim.run_until(t)
        seen = sim.first_dead.get(victim, {})
        live = sim.live_ids()
        if all(m in seen for m in live):
            times.append(max(seen[m] for m in live) - t0)
        else:
            times.append(math.inf)
        to_suspect.append(first_suspect.get(victim, math.inf) - t0)
    rate = (sim.bytes_sent - bytes0) * 8 / (t - warm) / n  # bit/s per member
    return times, rate, sim.false_dead, to_suspect


def spread_run(n, profile, seed, updates, spacing, frac=0.999):
    """A member changes its metadata; time until `frac` of the members have the new version."""
    sim = Simulation(n, profile, seed=seed)
    got: dict[tuple, list[float]] = {}

    def on_event(now, observer, ev):
        if ev.kind == EV_UPDATE:
            got.setdefault((ev.node_id, ev.incarnation), []).append(now)

    sim.on_event = on_event
    sim.run_until(5.0)
    t = 5.0
    out = []
    for i in range(updates):
        who = f"n{(seed * 31 + i * 977) % n:04d}"
        start = t
        sim.act(who, lambda core, now, i=i: core.update_meta({"v": i}, now))
        inc = sim.core(who).inc
        t += spacing
        sim.run_until(t)
        arrivals = sorted(got.get((who, inc), []))
        need = math.ceil(frac * (n - 1))
        out.append(arrivals[need - 1] - start if len(arrivals) >= need else math.inf)
    return out


def falsepos_run(
    n, profile, seed, duration, loss, stall_frac, stall_len, stall_every, slow_delay=0.0
):
    """Healthy cluster with loss and members that freeze now and then: count wrong verdicts.

    With slow_delay, the flaky members do not freeze: for stall_len seconds they read every
    message slow_delay seconds late while their timers run on time (an overloaded process).
    Returns (false dead verdicts, suspicions started by members' own failed probes,
    refutations, stalls).
    """
    sim = Simulation(n, profile, seed=seed, loss=loss)
    flaky = sim.rng.sample([m.id for m in sim.members], int(stall_frac * n))
    stalls = [0]

    def schedule(node_id, after):
        t = sim.now + sim.rng.expovariate(1.0 / stall_every) + after

        def fire():
            stalls[0] += 1
            if slow_delay:
                sim.slow(node_id, slow_delay, stall_len)
            else:
                sim.stall(node_id, stall_len)
            schedule(node_id, stall_len)

        sim.at(t, fire)

    for node_id in flaky:
        schedule(node_id, 0.0)
    sim.run_until(duration)
    cores = [m.core for m in sim.members]
    return (
        sim.false_dead,
        sum(c.stats.suspicions_raised for c in cores),
        sum(c.stats.refutations for c in cores),
        stalls[0],
    )


def fmt(x):
    return "∞" if math.isinf(x) else f"{x:.2f}"


def part_detect(args):
    print("\n### Crash → dead at every live member (LAN profile)\n")
    print(
        "| n | samples | p50 s | p99 s | max s | per-member traffic kbit/s | false dead "
        "| crash → first suspicion p50 / p99 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n, seeds, crashes in ((100, 10, 10), (1000, args.seeds_1000, 4)):
        times, rates, false, sus = [], [], 0, []
        for seed in range(1, seeds + 1):
            ts, rate, fd, su = detect_run(n, LAN, seed, crashes, 40.0, measure_bytes=(seed == 1))
            times += ts
            sus += su
            false += fd
            if seed == 1:
                rates.append(rate)
        print(
            f"| {n} | {len(times)} | {fmt(pct(times, 50))} | {fmt(pct(times, 99))} | "
            f"{fmt(max(times))} | {statistics.mean(rates) / 1000:.1f} | {false} | "
            f"{fmt(pct(sus, 50))} / {fmt(pct(sus, 99))} |",
            flush=True,
        )


def part_spread(args):
    print("\n### Metadata update → 99.9 % of members (LAN profile)\n")
    print("| n | samples | p50 s | p99 s | max s |")
    print("|---|---|---|---|---|")
    for n, seeds in ((100, 10), (1000, args.seeds_1000)):
        times = []
        for seed in range(1, seeds + 1):
            times += spread_run(n, LAN, seed, 5, 10.0)
        print(
            f"| {n} | {len(times)} | {fmt(pct(times, 50))} | {fmt(pct(times, 99))} | {fmt(max(times))} |",
            flush=True,
        )


def part_falsepos(args):
    scenarios = (
        ("freezing for 1 s (each on average every 10 s)", {}),
        (
            "overloaded for 5 s at a time, reading messages 1 s late (on average every 10 s)",
            {"slow_delay": 1.0, "stall_len": 5.0},
        ),
    )
    if args.scenario is not None:
        scenarios = (scenarios[args.scenario],)
    for title, extra in scenarios:
        print(
            f"\n### False dead verdicts: {args.hour:.0f} s simulated, 1 % loss, 10 % of members {title}\n"
        )
        print(
            "| n | profile | Lifeguard | false dead | suspicions raised | refutations | episodes |"
        )
        print("|---|---|---|---|---|---|---|")
        for n in args.fp_sizes:
            profiles = (("lan", LAN), ("default", DEFAULT)) if n <= 100 else (("lan", LAN),)
            for name, prof in profiles:
                for lifeguard in args.lifeguard:
                    p = prof.with_(lifeguard=lifeguard)
                    kw = {"stall_len": 1.0, **extra}
                    fd, sus, ref, stalls = falsepos_run(
                        n, p, 11, args.hour, 0.01, 0.10, stall_every=10.0, **kw
                    )
                    print(
                        f"| {n} | {name} | {'on' if lifeguard else 'off'} | {fd} | {sus} | {ref} | {stalls} |",
                        flush=True,
                    )


def part_default(args):
    print("\n### Shipped default profile, small clusters\n")
    print(
        "| n | min suspicion s | crash → dead everywhere p50 s | p99 s | max s | kbit/s per member | false dead |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in (3, 5, 10, 15, 20):
        times, false, rate = [], 0, 0.0
        for seed in range(1, args.seeds_small + 1):
            crashes = 1 if n < 5 else 3  # keep a majority of the members alive
            ts, r, fd, _ = detect_run(n, DEFAULT, seed, crashes, 20.0, measure_bytes=(seed == 1))
            times += ts
            false += fd
            if seed == 1:
                rate = r
        print(
            f"| {n} | {suspicion_min(DEFAULT, n):.2f} | {fmt(pct(times, 50))} | {fmt(pct(times, 99))} | "
            f"{fmt(max(times))} | {rate / 1000:.1f} | {false} |",
            flush=True,
        )


def part_real(args):
    """Real processes on loopback (plain websocket transport), shipped default profile."""
    from swarmlet.gossip.loopback import LoopbackCluster

    print(f"\n### Real processes on loopback, shipped default, n = {args.real_n}\n")
    times = []
    for trial in range(args.real_trials):
        with LoopbackCluster(args.real_n) as cluster:
            if not cluster.wait(cluster.converged, 60):
                print(f"trial {trial}: did not converge", flush=True)
                continue
            time.sleep(2.0)
            victim = cluster.members[1 + trial % (args.real_n - 1)]
            killed = time.time()
            victim.proc.kill()
            others = cluster.others(victim)
            cluster.wait(
                lambda v=victim, o=others: all(m.first("dead", v.id) for m in o), 30, step=0.01
            )
            seen = [m.first("dead", victim.id) for m in others]
            times.append(max(seen) - killed if all(seen) else math.inf)
    print("| n | trials | crash → dead everywhere p50 s | p99 s | max s |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.real_n} | {len(times)} | {fmt(pct(times, 50))} | {fmt(pct(times, 99))} | {fmt(max(times))} |"
    )


PARTS = {
    "detect": part_detect,
    "spread": part_spread,
    "falsepos": part_falsepos,
    "default": part_default,
    "real": part_real,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(PARTS), action="append")
    ap.add_argument("--seeds-1000", type=int, default=5)
    ap.add_argument("--seeds-small", type=int, default=40)
    ap.add_argument("--hour", type=float, default=3600.0, help="false-positive run length (s)")
    ap.add_argument("--fp-sizes", type=int, nargs="+", default=[100])
    ap.add_argument(
        "--scenario", type=int, choices=[0, 1], help="falsepos: 0 freezing, 1 overloaded"
    )
    ap.add_argument(
        "--lifeguard",
        nargs="+",
        type=lambda v: v == "on",
        default=[True, False],
        help="falsepos: on and/or off",
    )
    ap.add_argument("--real-n", type=int, default=5)
    ap.add_argument("--real-trials", type=int, default=20)
    args = ap.parse_args(argv)
    print("profiles:", {"lan": _brief(LAN), "default": _brief(DEFAULT)})
    for name in args.only or [p for p in PARTS if p != "real"]:
        t0 = time.time()
        PARTS[name](args)
        print(f"\n({name}: {time.time() - t0:.0f} s wall)", flush=True)
    return 0


def _brief(p: Profile) -> str:
    return (
        f"probe {p.probe_interval}s/{p.probe_timeout}s, k={p.indirect_checks}, susp x{p.suspicion_mult}"
        f" max x{p.suspicion_max_mult}, retransmit x{p.retransmit_mult},"
        f" gossip {p.gossip_interval}s to {p.gossip_nodes},"
        f" push/pull {p.push_pull_interval}s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
