use crate::harness::TestServer;

#[tokio::test]
async fn personas_list_filter_and_get() {
    let s = TestServer::start().await;
    let all = s.get("/v1/personas", None).await.expect(200);
    let all = all.data().as_array().unwrap();
    assert!(all.len() >= 12);
    for p in all {
        for f in [
            "id",
            "name",
            "vertical",
            "personality",
            "greeting",
            "systemPrompt",
        ] {
            assert!(
                p[f].as_str().is_some_and(|v| !v.is_empty()),
                "{f} missing in {p}"
            );
        }
    }
    for v in ["sales", "support", "education", "healthcare"] {
        let r = s.get(&format!("/v1/personas/{v}"), None).await.expect(200);
        let list = r.data().as_array().unwrap();
        assert!(!list.is_empty());
        assert!(list.iter().all(|p| p["vertical"] == v));
    }
    let one = s.get("/v1/personas/id/sales-rep", None).await.expect(200);
    assert_eq!(one.data()["vertical"], "sales");
    assert_eq!(one.data()["name"], "Sales Representative");
}

#[tokio::test]
async fn unknown_personas_are_404() {
    let s = TestServer::start().await;
    let r = s
        .get("/v1/personas/underwater-basketry", None)
        .await
        .expect(404);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sales")
    );
    s.get("/v1/personas/id/nobody", None).await.expect(404);
}
