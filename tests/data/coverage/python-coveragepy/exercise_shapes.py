from shapes.geometry import area, classify, clamp
from shapes.units import to_metres

assert classify(3) == "triangle"
assert classify(5) == "polygon"
assert area("square", 2) == 4
assert area("triangle", 2, 3) == 3
assert clamp(5, 0, 10) == 5
assert to_metres(2, "cm") == 0.02
print("ok")
