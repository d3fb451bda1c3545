function classify(sides) {
  if (sides < 3) {
    throw new Error("not a polygon");
  }
  if (sides === 3) return "triangle";
  if (sides === 4) return "quadrilateral";
  return "polygon";
}

function area(kind, a, b = 0) {
  switch (kind) {
    case "square":
      return a * a;
    case "rectangle":
      return a * b;
    case "triangle":
      return (a * b) / 2;
    default:
      throw new Error(kind);
  }
}

const clamp = (value, low, high) => (value < low ? low : value > high ? high : value);

module.exports = { classify, area, clamp };
