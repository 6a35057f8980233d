// Compile-only: the public headers are usable from C++, statistics structs
// included (their names end in _t so that they never collide with the
// functions that fill them, which in C++ would hide a struct of the same name).
#include <shmap/shmap.h>

static int stats_compile(const shmap_ring *r, const shmap_htable *t, const shmap_vector *v)
{
	shmap_ring_stats_t rs{};
	rs.size = sizeof rs;
	shmap_ring_consumer_stats_t cs{};
	cs.size = sizeof cs;
	shmap_htable_stats_t hs{};
	hs.size = sizeof hs;
	shmap_vector_stats_t vs{};
	vs.size = sizeof vs;
	return shmap_ring_stats(r, &rs) + shmap_ring_consumer_stats(r, 0, &cs) + shmap_htable_stats(t, &hs) +
	       shmap_vector_stats(v, &vs);
}

int main()
{
	// NULL handles: every call returns SHMAP_E_INVAL; only the types matter here
	if (stats_compile(nullptr, nullptr, nullptr) >= 0)
		return 1;
	return shmap_version() == 0 ? 1 : 0;
}
