/* SPDX-License-Identifier: MIT */
/*
 * demo.c - three processes sharing shmap structures.
 *
 *   producer  --(SPSC ring of readings)-->  aggregator  --(hash table)-->  reader
 *
 * The producer process pushes readings {sensor, seq, value} into an SPSC
 * ring. The aggregator process pops them in batches and keeps the latest
 * reading of every sensor in a shared hash table (upsert). A reader process
 * looks sensors up while that happens and checks every value it sees is a
 * whole, consistent reading. At the end the parent checks that the table
 * holds the last reading of every sensor.
 *
 * Build: cc demo.c $(pkg-config --cflags --libs shmap)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmap/shmap.h>

#define SENSORS 1000u
#define READINGS 2000000u

struct reading {
	uint32_t sensor;
	uint32_t pad;
	uint64_t seq;
	uint64_t value; /* value(sensor, seq): lets anyone check a reading is whole */
};

static uint64_t value_of(uint32_t sensor, uint64_t seq)
{
	return (seq * 2654435761u) ^ ((uint64_t)sensor << 40);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "demo: %s: %s (%s)\n", what, shmap_strerror(rc), shmap_errname(rc));
	return 1;
}

static int producer(const char *ring_name)
{
	shmap_ring *r;
	int rc = shmap_ring_open(ring_name, SHMAP_OPEN, SHMAP_RING_SPSC, sizeof(struct reading), 0,
				 SHMAP_RING_PRODUCER, NULL, &r);
	if (rc < 0)
		return die("producer: open ring", rc);
	for (uint64_t i = 0; i < READINGS; i++) {
		struct reading rd = { .sensor = (uint32_t)(i % SENSORS), .seq = i };
		rd.value = value_of(rd.sensor, i);
		rc = shmap_ring_push_wait(r, &rd, 5000);
		if (rc < 0)
			return die("producer: push", rc);
	}
	shmap_ring_close(r);
	return 0;
}

static int aggregator(const char *ring_name, const char *table_name)
{
	shmap_ring *r;
	shmap_htable *t;
	int rc = shmap_ring_open(ring_name, SHMAP_OPEN, SHMAP_RING_SPSC, sizeof(struct reading), 0,
				 SHMAP_RING_CONSUMER, NULL, &r);
	if (rc < 0)
		return die("aggregator: open ring", rc);
	rc = shmap_htable_open(table_name, SHMAP_OPEN, 0, 0, 0, NULL, &t);
	if (rc < 0)
		return die("aggregator: open table", rc);
	struct reading batch[64];
	uint64_t expect = 0;
	while (expect < READINGS) {
		uint32_t got = 0;
		rc = shmap_ring_pop_n_wait(r, batch, 64, &got, 5000);
		if (rc < 0 && got == 0)
			return die("aggregator: pop", rc);
		for (uint32_t i = 0; i < got; i++, expect++) {
			if (batch[i].seq != expect || batch[i].value != value_of(batch[i].sensor, expect)) {
				fprintf(stderr, "demo: reading %" PRIu64 " out of order or damaged\n", expect);
				return 1;
			}
			char key[16];
			int klen = snprintf(key, sizeof(key), "sensor-%u", batch[i].sensor);
			rc = shmap_htable_upsert(t, key, (uint32_t)klen, &batch[i], sizeof(batch[i]));
			if (rc < 0)
				return die("aggregator: upsert", rc);
		}
	}
	shmap_ring_close(r);
	shmap_htable_close(t);
	return 0;
}

static int reader(const char *table_name, volatile int *stop_flag_unused)
{
	(void)stop_flag_unused;
	shmap_htable *t;
	int rc = shmap_htable_open(table_name, SHMAP_OPEN, 0, 0, 0, NULL, &t);
	if (rc < 0)
		return die("reader: open table", rc);
	uint64_t lookups = 0, found = 0;
	double end = now() + 1.0;
	while (now() < end) {
		for (uint32_t s = 0; s < SENSORS; s++) {
			char key[16];
			int klen = snprintf(key, sizeof(key), "sensor-%u", s);
			struct reading rd;
			uint32_t len = 0;
			rc = shmap_htable_get(t, key, (uint32_t)klen, &rd, sizeof(rd), &len);
			lookups++;
			if (rc == SHMAP_E_NOTFOUND)
				continue;
			if (rc < 0)
				return die("reader: get", rc);
			if (len != sizeof(rd) || rd.sensor != s || rd.value != value_of(s, rd.seq)) {
				fprintf(stderr, "demo: reader saw a damaged reading for sensor %u\n", s);
				return 1;
			}
			found++;
		}
	}
	printf("reader:     %" PRIu64 " lookups during aggregation, %" PRIu64 " hits, all consistent\n",
	       lookups, found);
	fflush(stdout);
	shmap_htable_close(t);
	return 0;
}

int main(void)
{
	char ring_name[64], table_name[64];
	snprintf(ring_name, sizeof(ring_name), "/shmap-demo-ring-%d", (int)getpid());
	snprintf(table_name, sizeof(table_name), "/shmap-demo-table-%d", (int)getpid());

	shmap_ring *r;
	shmap_htable *t;
	int rc = shmap_ring_open(ring_name, SHMAP_CREATE, SHMAP_RING_SPSC, sizeof(struct reading), 4096,
				 SHMAP_RING_CONSUMER, NULL, &r);
	if (rc < 0)
		return die("create ring", rc);
	shmap_ring_close(r); /* created; the roles are taken by the children */
	rc = shmap_htable_open(table_name, SHMAP_CREATE, 16, sizeof(struct reading), 2 * SENSORS, NULL,
			       &t);
	if (rc < 0)
		return die("create table", rc);

	printf("shmap %s: %u readings from %u sensors, producer -> ring -> aggregator -> table <- reader\n",
	       shmap_version_string(), READINGS, SENSORS);
	double t0 = now();
	pid_t pids[3];
	fflush(stdout);
	if ((pids[0] = fork()) == 0)
		_exit(aggregator(ring_name, table_name));
	if ((pids[1] = fork()) == 0)
		_exit(producer(ring_name));
	if ((pids[2] = fork()) == 0)
		_exit(reader(table_name, NULL));
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	}
	double dt = now() - t0;

	/* The table must hold the last reading of every sensor. */
	for (uint32_t s = 0; s < SENSORS && !failed; s++) {
		char key[16];
		int klen = snprintf(key, sizeof(key), "sensor-%u", s);
		struct reading rd;
		uint32_t len;
		rc = shmap_htable_get(t, key, (uint32_t)klen, &rd, sizeof(rd), &len);
		uint64_t last = READINGS - SENSORS + s;
		if (rc < 0 || rd.seq != last || rd.value != value_of(s, last)) {
			fprintf(stderr, "demo: sensor %u: wrong final reading\n", s);
			failed = 1;
		}
	}
	if (!failed)
		printf("aggregator: %u readings in order in %.2f s (%.1f M/s through the ring + table), "
		       "%" PRIu64 " sensors in the table, each with its last reading\n",
		       READINGS, dt, READINGS / dt / 1e6, shmap_htable_size(t));
	shmap_htable_close(t);
	shmap_unlink(ring_name, NULL);
	shmap_unlink(table_name, NULL);
	printf(failed ? "demo: FAILED\n" : "demo: ok\n");
	return failed;
}
