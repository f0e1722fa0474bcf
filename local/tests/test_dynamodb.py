"""Conditional writes are atomic, as in DynamoDB: of many concurrent writers of one key, one wins."""
from __future__ import annotations

import threading

from botocore.config import Config
from conftest import unique


def test_concurrent_conditional_puts_have_exactly_one_winner(dev):
    ddb = dev.client("dynamodb", config=Config(max_pool_connections=32))
    table = unique("race")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for round_ in range(10):
        key = f"k{round_}"
        wins: list[int] = []
        barrier = threading.Barrier(8)

        def write(n: int) -> None:
            barrier.wait()
            try:
                ddb.put_item(TableName=table, Item={"pk": {"S": key}, "writer": {"N": str(n)}},
                             ConditionExpression="attribute_not_exists(pk)")
                wins.append(n)
            except ddb.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, f"round {round_}: {len(wins)} writers won"
        stored = ddb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
        assert stored["writer"]["N"] == str(wins[0])


def test_concurrent_conditional_updates_move_a_status_once(dev):
    ddb = dev.client("dynamodb", config=Config(max_pool_connections=32))
    table = unique("status")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for round_ in range(10):
        key = f"r{round_}"
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "status": {"S": "pending"}})
        moved: list[int] = []
        barrier = threading.Barrier(6)

        def decide(n: int) -> None:
            barrier.wait()
            try:
                ddb.update_item(TableName=table, Key={"pk": {"S": key}}, UpdateExpression="SET #s = :to",
                                ConditionExpression="#s = :from", ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={":from": {"S": "pending"}, ":to": {"S": f"by-{n}"}})
                moved.append(n)
            except ddb.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=decide, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(moved) == 1, f"round {round_}: {len(moved)} updates won"
