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


def test_a_transaction_and_a_conditional_update_of_its_item_have_exactly_one_winner(dev):
    """As an approval (a transaction: its request still pending, plus its own item) and a rejection
    (the request from pending to rejected) sent together: exactly one commits, and a cancelled
    transaction leaves nothing of itself behind."""
    ddb = dev.client("dynamodb", config=Config(max_pool_connections=32))
    table = unique("txrace")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    outcomes = {"approved": 0, "rejected": 0}
    for round_ in range(30):
        req, mine = f"request{round_}", f"approval{round_}"
        ddb.put_item(TableName=table, Item={"pk": {"S": req}, "status": {"S": "pending"}})
        won: list[str] = []
        barrier = threading.Barrier(2)

        def approve() -> None:
            barrier.wait()
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": {"pk": {"S": req}},
                                "ConditionExpression": "#s = :p", "UpdateExpression": "SET #s = :a",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {":p": {"S": "pending"}, ":a": {"S": "approved"}}}},
                    {"Put": {"TableName": table, "Item": {"pk": {"S": mine}},
                             "ConditionExpression": "attribute_not_exists(pk)"}}])
                won.append("approved")
            except ddb.exceptions.TransactionCanceledException:
                pass

        def reject() -> None:
            barrier.wait()
            try:
                ddb.update_item(TableName=table, Key={"pk": {"S": req}}, ConditionExpression="#s = :p",
                                UpdateExpression="SET #s = :r", ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={":p": {"S": "pending"}, ":r": {"S": "rejected"}})
                won.append("rejected")
            except ddb.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=approve), threading.Thread(target=reject)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, f"round {round_}: {won}"
        status = ddb.get_item(TableName=table, Key={"pk": {"S": req}}, ConsistentRead=True)["Item"]["status"]["S"]
        item = ddb.get_item(TableName=table, Key={"pk": {"S": mine}}, ConsistentRead=True).get("Item")
        assert status == won[0], f"round {round_}: {won[0]} won, the request says {status}"
        assert (item is not None) == (won[0] == "approved"), f"round {round_}: approval item {item}"
        outcomes[won[0]] += 1
    assert sum(outcomes.values()) == 30
