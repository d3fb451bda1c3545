const char *classify(int sides);
double clamp(double value, double low, double high);
double to_feet(double metres);
