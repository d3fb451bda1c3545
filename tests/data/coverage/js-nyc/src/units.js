const FACTORS = { mm: 0.001, cm: 0.01, m: 1, km: 1000 };

function toMetres(value, unit) {
  const factor = FACTORS[unit];
  if (factor === undefined) throw new Error(unit);
  return value * factor;
}

function toFeet(metres) {
  return metres / 0.3048;
}

function describe(value) {
  let suffix = "";
  while (value >= 1000) {
    suffix += "k";
    value /= 1000;
  }
  return `${value}${suffix}`;
}

module.exports = { toMetres, toFeet, describe };
