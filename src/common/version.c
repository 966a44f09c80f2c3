/* The version string, from CMake's project(VERSION). */
#include "pg2neo.h"

const char *p2n_version(void)
{
    return P2N_VERSION;
}
