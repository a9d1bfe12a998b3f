/* Tests for src/oauth/cimd.c: which client_id values are taken for
 * metadata document URLs.  (Fetching is covered by the integration tests,
 * which serve documents.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "oauth/internal.h"
#include "server/config.h"

static void
test_is_url(void **state)
{
	static const struct {
		const char *id;
		int url;
	} cases[] = {
	    {"https://app.example.com/client.json", 1},
	    {"https://app.example.com:8443/c?v=1", 1},
	    {"https://xn--ggle-55da.com/c", 1},
	    {"abc123", 0},
	    {"https://app.example.com", 0},
	    {"https://app.example.com/", 0},
	    {"https://u@app.example.com/c", 0},
	    {"https://app.example.com/c#f", 0},
	    {"https://app.example.com/./c", 0},
	    {"https://app.example.com/a/../c", 0},
	    {"http://app.example.com/c", 0},
	    /* Not URIs: raw UTF-8 (an IDN homograph of google.com), control
	     * bytes, spaces, backslashes. */
	    {"https://g\xd0\xbe\xd0\xbegle.com/c", 0},
	    {"https://app.example.com/c\xc3\xa9", 0},
	    {"https://app.example.com/c\nx", 0},
	    {"https://app.example.com/c x", 0},
	    {"https://app.example.com\\.evil.example/c", 0},
	    {"https://app.example.com/c\x7f", 0},
	};
	struct config cfg;
	struct cimd *c;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cimd.enabled = 1;
	assert_non_null(c = cimd_new(&cfg));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cimd_is_url(c, cases[i].id) != cases[i].url)
			fail_msg("cimd_is_url(\"%s\") = %d, want %d", cases[i].id, !cases[i].url,
			    cases[i].url);
	}
	cfg.cimd.enabled = 0;
	assert_int_equal(cimd_is_url(c, "https://app.example.com/client.json"), 0);
	cimd_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_url),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
