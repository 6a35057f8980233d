/* A consumer program built against the installed tree through pkg-config. */
#include <stdio.h>
#include <string.h>

#include <shmap/shmap.h>

int main(void)
{
	if (shmap_version() != SHMAP_VERSION_NUMBER) {
		fprintf(stderr, "header/library version mismatch\n");
		return 1;
	}
	if (strcmp(shmap_errname(SHMAP_E_FULL), "SHMAP_E_FULL") != 0)
		return 1;
	shmap_opts *o = NULL;
	if (shmap_opts_new(&o) != SHMAP_OK)
		return 1;
	shmap_opts_free(o);
	printf("consumer ok: shmap %s\n", shmap_version_string());
	return 0;
}
