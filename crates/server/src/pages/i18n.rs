//! The hosted pages' texts, in English and Japanese.

use gatehouse_auth::login::step::Notice;
use gatehouse_types::FactorType;

/// A text of the hosted pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    LogInTo,
    ToContinueTo,
    Email,
    Password,
    Continue,
    VerifyIdentity,
    OtpInstructions,
    EmailInstructions,
    RecoveryInstructions,
    Code,
    RecoveryCode,
    TryAnotherMethod,
    ChooseMethod,
    ChooseEnrollMethod,
    ResendCode,
    SecureAccount,
    ScanQr,
    CantScan,
    EnterFirstCode,
    SaveRecoveryCode,
    RecoveryCodeExplain,
    RecoveryCodeAlreadyShown,
    SavedIt,
    ErrorTitle,
    BackToApp,
    Redirecting,
}

/// The text in `lang` (`ja`, else English).
pub fn t(lang: &str, text: Text) -> &'static str {
    let ja = lang == "ja";
    match text {
        Text::LogInTo => {
            if ja {
                "ログイン"
            } else {
                "Log in"
            }
        }
        Text::ToContinueTo => {
            if ja {
                "続行するにはログインしてください:"
            } else {
                "to continue to"
            }
        }
        Text::Email => {
            if ja {
                "メールアドレス"
            } else {
                "Email address"
            }
        }
        Text::Password => {
            if ja {
                "パスワード"
            } else {
                "Password"
            }
        }
        Text::Continue => {
            if ja {
                "続行"
            } else {
                "Continue"
            }
        }
        Text::VerifyIdentity => {
            if ja {
                "本人確認"
            } else {
                "Verify your identity"
            }
        }
        Text::OtpInstructions => {
            if ja {
                "認証アプリに表示されている6桁のコードを入力してください。"
            } else {
                "Enter the 6-digit code shown in your authenticator app."
            }
        }
        Text::EmailInstructions => {
            if ja {
                "確認コードを送信しました:"
            } else {
                "We've sent a verification code to"
            }
        }
        Text::RecoveryInstructions => {
            if ja {
                "保存したリカバリーコードを入力してください。"
            } else {
                "Enter the recovery code you saved when you enrolled."
            }
        }
        Text::Code => {
            if ja {
                "コード"
            } else {
                "Code"
            }
        }
        Text::RecoveryCode => {
            if ja {
                "リカバリーコード"
            } else {
                "Recovery code"
            }
        }
        Text::TryAnotherMethod => {
            if ja {
                "別の方法を試す"
            } else {
                "Try another method"
            }
        }
        Text::ChooseMethod => {
            if ja {
                "認証方法を選択してください"
            } else {
                "Choose how to verify your identity"
            }
        }
        Text::ChooseEnrollMethod => {
            if ja {
                "登録する認証方法を選択してください"
            } else {
                "Choose a method to add"
            }
        }
        Text::ResendCode => {
            if ja {
                "コードを再送信"
            } else {
                "Resend code"
            }
        }
        Text::SecureAccount => {
            if ja {
                "アカウントを保護する"
            } else {
                "Secure your account"
            }
        }
        Text::ScanQr => {
            if ja {
                "認証アプリ（Google Authenticator など）でこの QR コードを読み取ってください。"
            } else {
                "Scan this QR code with an authenticator app such as Google Authenticator."
            }
        }
        Text::CantScan => {
            if ja {
                "読み取れない場合は、このキーを手動で入力してください:"
            } else {
                "Can't scan it? Enter this key instead:"
            }
        }
        Text::EnterFirstCode => {
            if ja {
                "アプリに表示されたコードを入力してください。"
            } else {
                "Then enter the code the app shows."
            }
        }
        Text::SaveRecoveryCode => {
            if ja {
                "リカバリーコードを保存してください"
            } else {
                "Save your recovery code"
            }
        }
        Text::RecoveryCodeExplain => {
            if ja {
                "認証アプリを使えなくなったときは、このコードでログインできます。安全な場所に保管してください。このコードが表示されるのは今回だけです。"
            } else {
                "If you lose access to your authenticator, this code lets you log in. Keep it somewhere safe: it is shown only this once."
            }
        }
        Text::RecoveryCodeAlreadyShown => {
            if ja {
                "リカバリーコードはすでに表示されました。"
            } else {
                "Your recovery code was already shown."
            }
        }
        Text::SavedIt => {
            if ja {
                "保存しました"
            } else {
                "I have safely recorded this code"
            }
        }
        Text::ErrorTitle => {
            if ja {
                "エラーが発生しました"
            } else {
                "Something went wrong"
            }
        }
        Text::BackToApp => {
            if ja {
                "アプリケーションに戻って、もう一度お試しください。"
            } else {
                "Go back to the application and try again."
            }
        }
        Text::Redirecting => {
            if ja {
                "アプリケーションに戻っています…"
            } else {
                "Returning to the application…"
            }
        }
    }
}

/// A notice in `lang`.
pub fn notice(lang: &str, notice: Notice) -> &'static str {
    let ja = lang == "ja";
    match notice {
        Notice::WrongCredentials => {
            if ja {
                "メールアドレスまたはパスワードが正しくありません。"
            } else {
                "Wrong email or password."
            }
        }
        Notice::LoginBlocked => {
            if ja {
                "ログインの失敗が続いたため、このアカウントへのログインは一時的にブロックされています。しばらくしてからお試しください。"
            } else {
                "Your account has been blocked after multiple consecutive login attempts. Try again later."
            }
        }
        Notice::UserBlocked => {
            if ja {
                "このユーザーはブロックされています。"
            } else {
                "This user is blocked."
            }
        }
        Notice::InvalidCode => {
            if ja {
                "コードが正しくありません。"
            } else {
                "The code you entered is invalid."
            }
        }
        Notice::FactorBlocked => {
            if ja {
                "失敗が多すぎるため、この認証方法は一時的に使用できません。"
            } else {
                "Too many failed codes: this method is blocked for a while."
            }
        }
        Notice::CodeExpired => {
            if ja {
                "コードの有効期限が切れたため、新しいコードを送信しました。"
            } else {
                "The code expired; we sent you a new one."
            }
        }
        Notice::CodeSent => {
            if ja {
                "新しいコードを送信しました。"
            } else {
                "We sent you a new code."
            }
        }
        Notice::FormExpired => {
            if ja {
                "フォームの有効期限が切れました。もう一度お試しください。"
            } else {
                "The form expired. Please try again."
            }
        }
        Notice::TooManySends => {
            if ja {
                "コードの送信回数が多すぎます。数分待ってから再送信してください。"
            } else {
                "Too many codes were sent. Wait a few minutes before asking for another one."
            }
        }
    }
}

/// A factor's name in `lang`.
pub fn factor_name(lang: &str, factor: FactorType) -> &'static str {
    let ja = lang == "ja";
    match factor {
        FactorType::Otp => {
            if ja {
                "認証アプリ"
            } else {
                "Authenticator app"
            }
        }
        FactorType::Email => {
            if ja {
                "メール"
            } else {
                "Email"
            }
        }
        FactorType::Phone => {
            if ja {
                "SMS または音声通話"
            } else {
                "SMS or voice call"
            }
        }
        FactorType::PushNotification => {
            if ja {
                "プッシュ通知"
            } else {
                "Push notification"
            }
        }
        FactorType::WebauthnPlatform => {
            if ja {
                "このデバイスの生体認証"
            } else {
                "This device's biometrics"
            }
        }
        FactorType::WebauthnRoaming => {
            if ja {
                "セキュリティキー"
            } else {
                "Security key"
            }
        }
        FactorType::RecoveryCode => {
            if ja {
                "リカバリーコード"
            } else {
                "Recovery code"
            }
        }
    }
}
