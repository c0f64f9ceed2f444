# A consumer group's life, for scripts/lab/record-more.sh (kafka): librdkafka's
# mock cluster (a Kafka wire-protocol broker inside the first client, on
# 127.0.0.1) serves a producer, a transactional producer, and two consumers of
# one group; the second one's join rebalances the first (its Heartbeat gets
# REBALANCE_IN_PROGRESS), offsets are committed and fetched, and both leave.
# Needs Debian's python3-confluent-kafka (librdkafka 2.0). Bounded: every wait
# has a deadline, and record-more.sh runs it under `timeout`.
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer


def log(*a):
    print(*a, file=sys.stderr, flush=True)


owner = Producer({'test.mock.num.brokers': 1, 'bootstrap.servers': 'unused:9092', 'client.id': 'orders-api'})
broker = list(owner.list_topics(timeout=5).brokers.values())[0]
boot = f'{broker.host}:{broker.port}'
for i in range(6):
    owner.produce('orders', key=f'k{i}', value=f'{{"order":{i}}}')
owner.flush(5)

tx = Producer({'bootstrap.servers': boot, 'transactional.id': 'payments-tx', 'client.id': 'payments'})
try:
    tx.init_transactions(5)
    tx.begin_transaction()
    tx.produce('payments', value='{"paid":true}')
    tx.commit_transaction(5)
except KafkaException as e:
    log('transaction:', e)


def consumer(name):
    return Consumer({'bootstrap.servers': boot, 'group.id': 'billing', 'client.id': name,
                     'auto.offset.reset': 'earliest', 'session.timeout.ms': 6000,
                     'heartbeat.interval.ms': 300, 'enable.auto.commit': False})


a = consumer('billing-a')
a.subscribe(['orders'])
got = 0
deadline = time.time() + 15
while got < 6 and time.time() < deadline:
    m = a.poll(0.2)
    if m is not None and not m.error():
        got += 1
a.commit(asynchronous=False)
log('billing-a consumed', got)

b = consumer('billing-b')
b.subscribe(['orders'])
deadline = time.time() + 8
while time.time() < deadline:
    a.poll(0.1)
    b.poll(0.1)
b.close()
a.close()
