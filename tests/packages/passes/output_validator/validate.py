"""A multi-pass validator (2023-07, a folder). The input of a pass is "k x": pass k of 3 on
the number x. Pass 1 wants 2x, pass 2 wants x + 1, pass 3 wants x squared; after passes 1
and 2 it writes the next pass's input to nextpass.in. The first pass's input may carry a
third number: the pass after which to ask for one more (to test the pass limit)."""
import sys

inp = open(sys.argv[1]).read().split()
feedback = sys.argv[3]
k, x = int(inp[0]), int(inp[1])
want = {1: 2 * x, 2: x + 1, 3: x * x}[k]
out = sys.stdin.read().split()
with open(feedback + "/judgemessage.txt", "a") as log:
    log.write(f"pass {k}: wanted {want}, got {out[:1]}\n")
if out != [str(want)]:
    sys.exit(43)
if k < 3:
    with open(feedback + "/nextpass.in", "w") as nxt:
        nxt.write(f"{k + 1} {want}\n")
sys.exit(42)
