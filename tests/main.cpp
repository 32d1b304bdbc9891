// Catch2 v2 main for the test executables.
#define CATCH_CONFIG_MAIN
#include "layerpipe_test.hpp"
