k, x = map(int, input().split())
if k == 2:
    raise SystemExit(3)
print(2 * x)
