"""A single-file interactor of an interactive multi-pass problem (validation_passes: 2 by
default). Its input is "k x": it sends the submission "k x" and wants 2x in pass 1, x + 1
in pass 2; pass 1 hands pass 2 its answer through nextpass.in."""
import sys

k, x = map(int, open(sys.argv[1]).read().split())
feedback = sys.argv[3]
print(k, x, flush=True)
want = 2 * x if k == 1 else x + 1
got = sys.stdin.readline().strip()
if got != str(want):
    open(feedback + "/judgemessage.txt", "a").write(f"pass {k}: wanted {want}, got {got!r}\n")
    sys.exit(43)
if k == 1:
    open(feedback + "/nextpass.in", "w").write(f"2 {want}\n")
sys.exit(42)
