/* SPDX-License-Identifier: MIT */
#include "lmd-test-wav.h"
