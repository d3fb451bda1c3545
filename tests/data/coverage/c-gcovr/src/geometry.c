#include "geometry.h"

const char *classify(int sides) {
    if (sides < 3) {
        return "none";
    }
    if (sides == 3 || sides == 4) {
        return sides == 3 ? "triangle" : "quadrilateral";
    }
    return "polygon";
}

double clamp(double value, double low, double high) {
    if (value < low) return low;
    if (value > high) return high;
    return value;
}

double to_feet(double metres) {
    return metres / 0.3048;
}
