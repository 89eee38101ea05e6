// Seed 002 (Auth0 and NTT CPaaS, "new tenant" path): SMS and voice one-time codes through NTT CPaaS, as the seed
// writes it, with its four constants read from secrets instead of pasted in (NTT_CPAAS_API_KEY, NTT_CPAAS_BASE_URL,
// NTT_CPAAS_SMS_FROM, NTT_CPAAS_VOICE_FROM). Note that it calls fetch without await and returns: Gatehouse lets the
// requests it started finish (within the action's deadline) before the run ends. Copy it to
// actions/custom-phone-provider/ to use it.
exports.onExecuteCustomPhoneProvider = async (event, api) => {
  const authorization_key = event.secrets.NTT_CPAAS_API_KEY;
  const base_url = event.secrets.NTT_CPAAS_BASE_URL;
  const sms_from_number = event.secrets.NTT_CPAAS_SMS_FROM;
  const voice_from_number = event.secrets.NTT_CPAAS_VOICE_FROM;
  const voice_gender ="female";//Voiceの性別を"female"または"male"から選択
  const txt = event.notification.as_text;
  const recipient = event.notification.recipient;

  const myHeaders = new Headers();
  myHeaders.append("Authorization", "App "+authorization_key);
  myHeaders.append("Content-Type", "application/json");
  myHeaders.append("Accept", "application/json");

  if(event.notification.delivery_method === "text"){
  //SMSを利用した多要素認証のリクエストについて設定
    const raw = JSON.stringify({
      "messages": [
        {
          "sender": sms_from_number,
          "destinations": [{"to": recipient}],
          "content": {"text": txt}
        }
      ]
    });

    const requestOptions = {
      method: "POST",
      headers: myHeaders,
      body: raw,
      redirect: "follow"
    };

    fetch("https://"+base_url+"/sms/3/messages", requestOptions)
      .then((response) => response.text())
      .then((text) => console.log(text))
      .catch((error) => console.error(error));

  } else if (event.notification.delivery_method === "voice") {
  //Voiceを利用した多要素認証のリクエストについて設定
      const raw = JSON.stringify({
        "messages": [
          {
            "destinations": [{"to": recipient}],
            "from": voice_from_number,
            "language": event.request.language,
            "text": txt,
            "voice": {
              "gender": voice_gender
            }
          }
        ]
      });
  
      const requestOptions = {
        method: "POST",
        headers: myHeaders,
        body: raw,
        redirect: "follow"
      };
  
    fetch("https://"+base_url+"/tts/3/advanced", requestOptions)
      .then((response) => response.text())
      .then((text) => console.log(text))
      .catch((error) => console.error(error));
    }
  return;
};
