import sys
data = sys.stdin.buffer.read().split()
print(max(map(int, data[1:])))
