# Allocates far more than the problem's 256 MiB.
x = b'x' * (1 << 30)
print(len(x))
