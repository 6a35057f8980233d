/* Compile-only: the public headers are valid C99 under -pedantic -Werror. */
#include <shmap/shmap.h>

int main(void)
{
	return shmap_version() == 0;
}
