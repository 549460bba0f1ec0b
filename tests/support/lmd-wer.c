/* SPDX-License-Identifier: MIT */
#include "lmd-wer.h"
