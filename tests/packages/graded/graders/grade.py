"""A single-file custom grader (legacy graders/). Its flags: "majority POINTS". Its input:
one "VERDICT score" line per result of the group. A group of test cases scores POINTS per
accepted one; a group of groups sums its accepted groups' scores. Accepted when more than
half of the results are."""
import sys

mode, points = sys.argv[1], float(sys.argv[2])
assert mode == "majority", mode
results = [line.split() for line in sys.stdin if line.strip()]
accepted = [float(s) for v, s in results if v == "AC"]
ok = 2 * len(accepted) > len(results)
# Tests come with their accept score (1); groups with what this grader gave them.
score = sum(points if s == 1.0 else s for s in accepted)
first_error = next((v for v, _ in results if v != "AC"), "WA")
print("AC" if ok else first_error, score if ok else 0)
