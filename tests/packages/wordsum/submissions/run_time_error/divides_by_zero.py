import sys

n = int(sys.stdin.readline())
print(1 // (n - n))
