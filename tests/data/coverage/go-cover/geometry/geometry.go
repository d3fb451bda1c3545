// Package geometry is a tiny package with branches some tests miss.
package geometry

import "errors"

// Classify names a polygon by its number of sides.
func Classify(sides int) (string, error) {
	if sides < 3 {
		return "", errors.New("not a polygon")
	}
	switch sides {
	case 3:
		return "triangle", nil
	case 4:
		return "quadrilateral", nil
	}
	return "polygon", nil
}

// Clamp limits value to [low, high].
func Clamp(value, low, high float64) float64 {
	if value < low {
		return low
	}
	if value > high {
		return high
	}
	return value
}

// ToFeet is never called by the tests.
func ToFeet(metres float64) float64 {
	return metres / 0.3048
}
