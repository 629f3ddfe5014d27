"""Accepts the double of the input's first number. An input's second number, when there is
one, is the test's weight: an accepted output scores it (score.txt). An output's second word,
when there is one, is written to score.txt as it is (so a test can feed it garbage)."""
import sys

inp = open(sys.argv[1]).read().split()
feedback = sys.argv[3]
out = sys.stdin.read().split()
want = str(2 * int(inp[0]))
if not out or out[0] != want:
    open(feedback + "/judgemessage.txt", "w").write(f"expected {want}, got {out[:1]}\n")
    sys.exit(43)
score = out[1] if len(out) > 1 else (inp[1] if len(inp) > 1 else None)
if score is not None:
    open(feedback + "/score.txt", "w").write(score + "\n")
sys.exit(42)
