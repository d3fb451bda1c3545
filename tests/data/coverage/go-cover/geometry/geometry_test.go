package geometry

import "testing"

func TestClassify(t *testing.T) {
	if got, _ := Classify(3); got != "triangle" {
		t.Fatal(got)
	}
	if got, _ := Classify(7); got != "polygon" {
		t.Fatal(got)
	}
}

func TestClamp(t *testing.T) {
	if Clamp(5, 0, 10) != 5 {
		t.Fatal("clamp")
	}
}
