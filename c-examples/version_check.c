/* A host checks, at start-up, that the library it runs with fits the
 * header it was compiled against (same major version, library minor >=
 * header minor), and refuses to go on otherwise.
 *
 *   version_check                        a real host: exit 0 and run, or
 *                                        print why not and exit 1
 *   version_check --expect-refusal TEXT  the test of a host compiled against
 *                                        a header of another version: exit 0
 *                                        only if the library refuses it with
 *                                        a message containing TEXT
 * (c-examples/CMakeLists.txt builds it against the installed header and
 * against copies with another major and a newer minor version.) */
#include "example.h"

int main(int argc, char **argv) {
  const char *expect_refusal = NULL;
  if (argc == 3 && strcmp(argv[1], "--expect-refusal") == 0) {
    expect_refusal = argv[2];
  } else if (argc != 1) {
    fprintf(stderr, "usage: version_check [--expect-refusal TEXT]\n");
    return 2;
  }
  printf("host built against wasi_parallel.h %d.%d.%d (\"%s\"), library %s (%u.%u.%u)\n",
         WASI_PARALLEL_VERSION_MAJOR, WASI_PARALLEL_VERSION_MINOR, WASI_PARALLEL_VERSION_PATCH,
         WASI_PARALLEL_VERSION, wp_version(), wp_version_major(), wp_version_minor(),
         wp_version_patch());
  /* wp_version() and its parts agree. */
  char parts[64];
  snprintf(parts, sizeof parts, "%u.%u.%u", wp_version_major(), wp_version_minor(),
           wp_version_patch());
  EXPECT(strcmp(parts, wp_version()) == 0);

  wp_error_t *err = wp_version_check_header();
  if (expect_refusal == NULL) {
    if (err) {
      fprintf(stderr, "refusing to run: %s\n", wp_error_message(err));
      wp_error_delete(err);
      return 1;
    }
    /* Accepted: same major version, and the library is at least as new. */
    EXPECT(wp_version_major() == WASI_PARALLEL_VERSION_MAJOR);
    EXPECT(wp_version_minor() >= WASI_PARALLEL_VERSION_MINOR);
    printf("compatible\n");
    return 0;
  }
  if (err == NULL) {
    fprintf(stderr, "FAIL: the library accepted a host built against %s\n", WASI_PARALLEL_VERSION);
    return 1;
  }
  const char *msg = wp_error_message(err);
  printf("refused: %s\n", msg);
  EXPECT(wp_error_code(err) == WP_ERROR_INVALID_ARGUMENT);
  EXPECT(strstr(msg, expect_refusal) != NULL);
  EXPECT(strstr(msg, wp_version()) != NULL);
  wp_error_delete(err);
  /* The library's own header version is accepted, whatever this host's. */
  err = wp_version_check(wp_version_major(), wp_version_minor());
  EXPECT(err == NULL);
  return 0;
}
