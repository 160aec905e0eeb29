/* util: text from the server made safe for a terminal. */
#include <string.h>
#include <glib.h>

#include "rfs/util.h"

static void check(const char *in, gboolean nl, const char *want)
{
	char *got = util_safe_text(in, nl);

	g_assert_cmpstr(got, ==, want);
	g_free(got);
}

static void test_safe_text(void)
{
	check("Password: ", FALSE, "Password: ");
	check(NULL, FALSE, "");
	check("caf\xc3\xa9 \xe2\x9c\x93", FALSE, "caf\xc3\xa9 \xe2\x9c\x93");
	/* an escape sequence that would retitle the window or clear it */
	check("\x1b]0;pwned\x07OTP: ", FALSE, "\\033]0;pwned\\007OTP: ");
	check("a\x1b[2Jb\rc\x7f", FALSE, "a\\033[2Jb\\015c\\177");
	/* C1 CSI (U+009B) in UTF-8, and a lone byte that is not UTF-8 */
	check("x\xc2\x9b" "2Jy\x9bz\xff", FALSE,
	      "x\\302\\2332Jy\\233z\\377");
	check("line1\nline2\t.", TRUE, "line1\nline2\t.");
	check("line1\nline2", FALSE, "line1\\012line2");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/util/safe_text", test_safe_text);
	return g_test_run();
}
