/* SPDX-License-Identifier: MIT */
/* A shared object without the plugin entry point: the loader must refuse it. */
int lmd_test_not_a_plugin (void);

int
lmd_test_not_a_plugin (void)
{
  return 42;
}
