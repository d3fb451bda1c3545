#include <assert.h>
#include <string.h>
#include "geometry.h"
int main(void) {
    assert(strcmp(classify(3), "triangle") == 0);
    assert(strcmp(classify(9), "polygon") == 0);
    assert(clamp(5, 0, 10) == 5);
    return 0;
}
