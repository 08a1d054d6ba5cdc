use crate::harness::TestServer;

#[tokio::test]
async fn document_ids_resolve_and_models_are_served_here() {
    let s = TestServer::start().await;
    let list = s.get("/v1/avatars", None).await.expect(200);
    let ids: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    for id in ["aria-001", "avatar_1", "female-01"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
        let one = s.get(&format!("/v1/avatars/{id}"), None).await.expect(200);
        assert_eq!(one.data()["id"], id);
        let model = s
            .get(&format!("/v1/avatars/{id}/model"), None)
            .await
            .expect(200);
        let url = model.data()["modelUrl"].as_str().unwrap().to_string();
        assert!(url.starts_with(&s.base), "{url} is not on this server");
        assert!(url.ends_with(".glb"));
        let res = s.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "model/gltf-binary");
        let etag = res.headers()["etag"].clone();
        let bytes = res.bytes().await.unwrap();
        assert_eq!(&bytes[..4], b"glTF");
        assert_eq!(
            bytes.len() as u64,
            model.data()["sizeBytes"].as_u64().unwrap()
        );
        let again = s
            .client
            .get(&url)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
    }
}

#[tokio::test]
async fn unknown_presets_and_files_are_404() {
    let s = TestServer::start().await;
    assert_eq!(
        s.get("/v1/avatars/nope", None)
            .await
            .expect(404)
            .error_code(),
        "NOT_FOUND"
    );
    s.get("/v1/avatars/nope/model", None).await.expect(404);
    s.get("/assets/avatars/nope.glb", None).await.expect(404);
    s.get("/assets/avatars/..%2F..%2FCargo.toml", None)
        .await
        .expect(404);
}
