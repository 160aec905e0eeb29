/* fuzz_mount_opts: libFuzzer target for the command line of mount.rfs
 * and the -o option string (src/mount_helper.c), which fstab lines and
 * mount(8) hand to rfs running as root.
 *
 * Input: NUL-separated words. The first is split as an -o argument: the
 * items must be non-empty, and joined again with their commas and
 * backslashes escaped they must split into the same items. The words are
 * then parsed as the argv of mount.rfs: on success SOURCE and MOUNTPOINT
 * are two of the words and every -o value is one (or the tail of one);
 * on failure there is an error message. Nothing may leak either way.
 */
#include <string.h>

#include <glib.h>

#include "rfs/mount_helper.h"
#include "fuzz_common.h"

/* A list continues after "x=" when the word has no '=' (like cli.c). */
static gboolean joins(const char *prev, const char *word)
{
	return strchr(prev, '=') && !strchr(word, '=') && word[0] != 'n';
}

static char *escape(GPtrArray *items, gboolean with_join)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < items->len; i++) {
		if (i)
			g_string_append_c(s, ',');
		for (const char *p = items->pdata[i]; *p; p++) {
			if ((*p == ',' && !with_join) || *p == '\\')
				g_string_append_c(s, '\\');
			g_string_append_c(s, *p);
		}
	}
	return g_string_free(s, FALSE);
}

static int in_words(const char *s, char **words, int n)
{
	for (int i = 0; i < n; i++)
		if (s >= words[i] && s <= words[i] + strlen(words[i]))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = g_malloc(size + 1);
	GPtrArray *argv = g_ptr_array_new(), *items, *again;
	struct mount_helper mh;
	GError *err = NULL;
	char *joined;
	size_t start = 0;

	memcpy(copy, data, size);
	copy[size] = '\0';
	g_ptr_array_add(argv, (char *)"mount.rfs");
	for (size_t i = 0; i <= size; i++) {
		if (i == size || copy[i] == '\0') {
			g_ptr_array_add(argv, copy + start);
			start = i + 1;
		}
	}

	items = mount_opts_split(argv->pdata[1], NULL);
	for (guint i = 0; i < items->len; i++)
		FUZZ_ASSERT(((char *)items->pdata[i])[0] != '\0');
	joined = escape(items, FALSE);
	again = mount_opts_split(joined, NULL);
	FUZZ_ASSERT(again->len == items->len);
	for (guint i = 0; i < items->len; i++)
		FUZZ_ASSERT(!strcmp(items->pdata[i], again->pdata[i]));
	g_free(joined);
	g_ptr_array_free(again, TRUE);
	g_ptr_array_free(items, TRUE);
	items = mount_opts_split(argv->pdata[1], joins);
	g_ptr_array_free(items, TRUE);

	if (mount_helper_parse((int)argv->len, (char **)argv->pdata, &mh,
			       &err) == 0) {
		FUZZ_ASSERT(!err);
		FUZZ_ASSERT(mh.help || mh.version ||
			    (mh.source && mh.target &&
			     in_words(mh.source, (char **)argv->pdata + 1,
				      (int)argv->len - 1) &&
			     in_words(mh.target, (char **)argv->pdata + 1,
				      (int)argv->len - 1)));
		for (guint i = 0; i < mh.opts->len; i++)
			FUZZ_ASSERT(in_words(mh.opts->pdata[i],
					     (char **)argv->pdata + 1,
					     (int)argv->len - 1));
	} else {
		FUZZ_ASSERT(err && err->message && *err->message);
		g_error_free(err);
	}
	mount_helper_clear(&mh);
	g_ptr_array_free(argv, TRUE);
	g_free(copy);
	return 0;
}
