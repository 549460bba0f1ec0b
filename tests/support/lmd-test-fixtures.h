/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-fixtures.h — the test data the repository carries (tests/fixtures/README.md says
 * what each file is): its folder, paths inside it, whole files read.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The fixtures folder: $LMD_FIXTURES_DIR, else $LMD_SOURCE_DIR/tests/fixtures.  (transfer none) */
const char *lmd_test_fixtures_dir (void);
/* (transfer full) the path of the fixture @first_element/…, elements ending with NULL. */
char *lmd_test_fixture_path (const char *first_element, ...) G_GNUC_NULL_TERMINATED;
/* (transfer full) the whole file at @path; fails the test when it cannot be read. */
GBytes *lmd_test_read_file (const char *path);
/* Removes the folder @path and everything in it (links are removed, not followed). */
void lmd_test_rm_rf (const char *path);

G_END_DECLS
