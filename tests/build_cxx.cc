// Compile-only: the public headers are usable from C++.
#include <shmap/shmap.h>

int main()
{
	return shmap_version() == 0 ? 1 : 0;
}
