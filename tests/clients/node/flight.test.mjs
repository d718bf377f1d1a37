// The official node v3 client against a running pluginmgr server: writes over HTTP, queries over
// Arrow Flight on the same port. Run by tests/clients/test_node_client.py, which starts the
// server and passes PLUGINMGR_URL and PLUGINMGR_TOKEN.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {InfluxDBClient} from '@influxdata/influxdb3-client'

const host = process.env.PLUGINMGR_URL
const token = process.env.PLUGINMGR_TOKEN
const database = 'nodedb'
const LINES = [
  'cpu,host=a,region=eu usage=1.5,count=1i 1000000000',
  'cpu,host=b,region=us usage=2.25,count=2i 2000000000',
  'cpu,host=a,region=eu usage=3,count=3i 3000000000',
]

async function collect(rows) {
  const all = []
  for await (const row of rows) all.push(row)
  return all
}

function connect(options = {}) {
  return new InfluxDBClient({host, token, database, queryTimeout: 30000, ...options})
}

test('write then SQL query reads back exactly', async () => {
  const client = connect()
  try {
    await client.write(LINES.join('\n'), database, undefined, {precision: 'ns'})
    const rows = await collect(
      client.query('SELECT host, usage, count, time FROM cpu ORDER BY time', database)
    )
    assert.deepEqual(
      rows.map((r) => [r.host, r.usage, Number(r.count)]),
      [['a', 1.5, 1], ['b', 2.25, 2], ['a', 3, 3]]
    )
    assert.equal(rows.length, 3)
  } finally {
    await client.close()
  }
})

test('query parameters bind like query_sql', async () => {
  const client = connect()
  try {
    const rows = await collect(
      client.query('SELECT usage FROM cpu WHERE host = $host ORDER BY time', database, {
        params: {host: 'a'},
      })
    )
    assert.deepEqual(rows.map((r) => r.usage), [1.5, 3])
  } finally {
    await client.close()
  }
})

test('InfluxQL over Flight', async () => {
  const client = connect()
  try {
    const rows = await collect(
      client.query('SELECT max(count) FROM cpu GROUP BY host', database, {type: 'influxql'})
    )
    assert.deepEqual(
      rows.map((r) => [r['iox::measurement'], r.host, Number(r.max)]),
      [['cpu', 'a', 3], ['cpu', 'b', 2]]
    )
  } finally {
    await client.close()
  }
})

test('a wrong token is refused with the server message', async () => {
  const client = connect({token: 'apiv3_wrong'})
  try {
    await assert.rejects(collect(client.query('SELECT 1', database)), /invalid or revoked token/)
  } finally {
    await client.close()
  }
})

test('an unknown database gives the server message', async () => {
  const client = connect()
  try {
    await assert.rejects(collect(client.query('SELECT 1', 'nope')), /database not found: nope/)
  } finally {
    await client.close()
  }
})

test('bad SQL gives the server message', async () => {
  const client = connect()
  try {
    await assert.rejects(
      collect(client.query('SELECT nope FROM cpu', database)),
      /error while planning query/
    )
  } finally {
    await client.close()
  }
})
