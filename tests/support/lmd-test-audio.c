/* SPDX-License-Identifier: MIT */
#include "lmd-test-audio.h"
