#include "layerpipe_test.hpp"  // filled in by its owner
