n = int(input())
lo, hi = 1, n
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    r = input().strip()
    if r == "=":
        break
    if r == "<":
        lo = mid + 1
    else:
        hi = mid - 1
